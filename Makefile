# Two commands matter: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test soak lint format bench clean messages makemessages

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Python 3.11 or newer is needed: make PYTHON=python3.12 ..."; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@ $(VENV)/.installed

# Translations are compiled here (pure Python, no GNU gettext), never committed.
messages: $(VENV)/.installed
	$(BIN)/python tools/compilemessages.py

# After changing user-facing strings: update the catalogues (needs GNU gettext),
# translate the new entries in locale/fi/LC_MESSAGES/*.po; tests/test_i18n.py checks.
I18N_IGNORE := --ignore=.venv --ignore=var --ignore=tests --ignore=bench --ignore=build \
	--ignore=test-results --ignore=staticfiles --ignore=node_modules
makemessages: $(VENV)/.installed
	$(BIN)/python manage.py makemessages -l fi --no-obsolete $(I18N_IGNORE)
	$(BIN)/python manage.py makemessages -l fi -d djangojs --no-obsolete $(I18N_IGNORE)

run: $(VENV)/.installed messages
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	tools/run

# axe-core for the browser tests' accessibility checks (tests/e2e/test_walk.py), pinned in
# package-lock.json. Without npm the checks skip (and fail under REQUIRE_SERVICES=1).
node_modules/.installed: package.json package-lock.json
	@if command -v npm >/dev/null; then \
		npm ci --no-audit --no-fund --loglevel=error && touch $@; \
	else echo "npm is missing: the accessibility checks of the browser tests will not run"; fi

test: $(VENV)/.installed-dev messages node_modules/.installed
	tools/test

# The slow fault and load runs (see README.md "Reliability"): not part of `make test`.
soak: $(VENV)/.installed-dev
	tools/soak

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

format: $(VENV)/.installed-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(VENV)/.installed-dev
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var node_modules .pytest_cache .ruff_cache .hypothesis
