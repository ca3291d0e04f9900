from rest_framework.permissions import BasePermission


class StaffViewPermission(BasePermission):
    """Active staff holding the `view_` permission of every model the endpoint shows.

    DRF's DjangoModelPermissions checks write permissions only and lets any authenticated
    user read. An endpoint names its models in `viewed_models` (a note list needs the note's
    and the parent's); otherwise its queryset's model is used. Costs no query for a
    superuser, two (user and group permissions) for anybody else, once per request.
    """

    def has_permission(self, request, view):
        user = request.user
        if not (user and user.is_authenticated and user.is_active and user.is_staff):
            return False
        models = getattr(view, "viewed_models", None) or (view.get_queryset().model,)
        return user.has_perms(
            f"{model._meta.app_label}.view_{model._meta.model_name}" for model in models
        )
