"""The one read-only admin: for rows that only the app's services write (conversations,
messages, the usage ledger, the observed rate limits). Staff read them and never add or
change them; `deletable` says whether they may delete them."""

from django.contrib import admin


class ReadOnlyAdminMixin:
    deletable = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return self.deletable and super().has_delete_permission(request, obj)


class ReadOnlyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    pass
