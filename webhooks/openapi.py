from flask import Blueprint
blueprint = Blueprint("openapi", __name__)
