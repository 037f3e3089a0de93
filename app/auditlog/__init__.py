"""The audit trail's pages and API: above auth (they check the caller's permission), while the
trail itself (app.audit) sits below it, as logins and every feature record to it."""
