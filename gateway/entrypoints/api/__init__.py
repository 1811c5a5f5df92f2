"""The REST API: thin flask-smorest blueprints (one module per resource) and their marshmallow
schemas; the app registers them in gateway/app.py. Every route is documented in /openapi.json."""
