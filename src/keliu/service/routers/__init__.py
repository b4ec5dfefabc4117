"""One router module per resource; ``keliu.service.app`` includes them all under ``/api/v1``."""
