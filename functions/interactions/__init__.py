"""The interactions function: Discord's signed HTTP interactions in, replies out."""
