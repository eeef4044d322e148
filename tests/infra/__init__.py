"""Checks of infra/ (Bicep for azd up): syntax, settings and names parity, security defaults, checkov."""
