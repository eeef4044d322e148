"""The Azure Functions app: creates the app object and registers one blueprint per feature. Nothing else."""

import azure.functions as func

from functions import (
    agent_api,
    audit,
    connections,
    consent,
    console_auth,
    console_pages,
    console_pages_actions,
    console_pages_agents,
    console_pages_static,
    directory_sync,
    health,
    invitations,
    notifications,
    openapi,
    password_rotation,
    signin,
)

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(health.bp)
app.register_functions(connections.bp)
app.register_functions(consent.bp)
app.register_functions(invitations.bp)
app.register_functions(password_rotation.bp)
app.register_functions(directory_sync.bp)
app.register_functions(audit.bp)
app.register_functions(openapi.bp)
app.register_functions(signin.bp)
app.register_functions(console_auth.bp)
app.register_functions(console_pages.bp)
app.register_functions(console_pages_actions.bp)
app.register_functions(console_pages_static.bp)
app.register_functions(agent_api.bp)
app.register_functions(notifications.bp)
app.register_functions(console_pages_agents.bp)
