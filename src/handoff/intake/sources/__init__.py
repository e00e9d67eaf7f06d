"""Where messages come from: the SMTP inbox, an IMAP mailbox, HTTP, files."""
