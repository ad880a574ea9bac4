"""Everything that talks to another system: the rental system and the accounting systems."""
