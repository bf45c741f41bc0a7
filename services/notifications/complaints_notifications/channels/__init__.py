"""The transports that carry a message: SMTP e-mail, an HTTP SMS provider, CRM webhooks, the log."""
