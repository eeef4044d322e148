# Debian packages the tests and the console need, installed by the repo itself when missing (root, apt-get):
# chromium for the browser tests of the console and sign-in; a Samba AD domain controller for the AD agent's tests.
SYSTEM_PACKAGES := chromium samba samba-ad-provision samba-dsdb-modules samba-vfs-modules winbind ldb-tools
SYSTEM_STAMP := .system-packages.installed

$(SYSTEM_STAMP): infra/system.mk
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@touch $@

.PHONY: system-packages
system-packages: $(SYSTEM_STAMP)
