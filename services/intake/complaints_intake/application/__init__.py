"""Intake's use cases, named as complaint handling names them; routes and handlers call them."""
