"""What happened to sent messages: delivery reports, status precedence, sync and retention."""
