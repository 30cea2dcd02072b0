"""Discord's wire: the REST client, attachments and their URL rules, permissions, message text limits and
components."""
