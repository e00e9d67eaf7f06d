"""Events out: subscriptions (Zapier REST hooks, Make webhooks), a durable outbox and signed delivery."""
