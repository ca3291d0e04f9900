from rest_framework.authtoken.models import Token
from rest_framework.settings import api_settings
from rest_framework.throttling import UserRateThrottle


class TokenRateThrottle(UserRateThrottle):
    """Limit requests authenticated with an API token, per user, to the `token` rate
    (the `API_THROTTLE_RATE` setting).

    Session requests pass: they are staff browsing the API from a logged-in admin at human
    speed, and the admin itself is not throttled either. Counts live in the default cache,
    so with one local-memory cache per server process each process counts on its own.
    """

    scope = "token"

    def get_rate(self):
        # DRF binds the rates at import; reading them here lets a settings change apply.
        return api_settings.DEFAULT_THROTTLE_RATES[self.scope]

    def allow_request(self, request, view):
        if not isinstance(request.auth, Token):
            return True
        return super().allow_request(request, view)
