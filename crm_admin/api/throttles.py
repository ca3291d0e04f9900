from rest_framework.authtoken.models import Token
from rest_framework.throttling import UserRateThrottle

from crm_admin.conf import crm_settings


class TokenRateThrottle(UserRateThrottle):
    """Limit requests authenticated with an API token, per user, to CRM_API_THROTTLE_RATE
    (the `API_THROTTLE_RATE` variable of the standalone project).

    Session requests pass: they are staff browsing the API from a logged-in admin at human
    speed, and the admin itself is not throttled either. Counts live in the default cache,
    so with one local-memory cache per server process each process counts on its own.
    """

    scope = "token"

    def get_rate(self):
        # The CRM's own setting, not REST_FRAMEWORK's rates, which are the host project's;
        # read per request, so that a settings change applies.
        return crm_settings.CRM_API_THROTTLE_RATE

    def allow_request(self, request, view):
        if not isinstance(request.auth, Token):
            return True
        return super().allow_request(request, view)
