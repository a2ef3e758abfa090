"""The activities service: activities, sign-ups, notifications, announcements."""
