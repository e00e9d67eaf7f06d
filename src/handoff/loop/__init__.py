"""The CRM <-> project loop: low surveys become improvement tasks, won deals projects, progress account events."""
