"""The web app for people: sign-in, the inbox and the review queue, served under /app by the API process."""
