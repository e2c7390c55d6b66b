"""The book's figures and generated pages (performance, TRIPOD+AI checklist)."""
