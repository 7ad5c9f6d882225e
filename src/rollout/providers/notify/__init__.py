"""Notifications through Apprise, following the plan's communication plan."""
