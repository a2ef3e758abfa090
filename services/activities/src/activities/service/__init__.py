"""Use cases of the activities service: activities and sign-ups (activities.py), notices to a
whole audience (mailings.py), announcements (announcements.py), the inbox (notifications.py),
photos (photos.py), statistics (statistics.py)."""

PRODUCER = "activities"  # the producer of the service's events and commands
