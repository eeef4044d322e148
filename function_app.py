"""The Azure Functions app: creates the app object and registers one blueprint per feature. Nothing else."""

import azure.functions as func

from functions import health

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(health.bp)
