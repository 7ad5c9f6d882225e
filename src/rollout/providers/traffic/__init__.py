"""Traffic routers: flag, nginx, haproxy, command."""
