"""Discord Bot Trainer's common package: settings, errors, storage and the contracts between its parts."""
