"""checkov policies for infra/ (loaded by checkov --external-checks-dir, never by the app)."""
