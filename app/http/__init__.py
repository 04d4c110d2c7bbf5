"""HTTP plumbing shared by every route family: the application, errors, bodies, uploads, SSE,
pagination, media downloads, model choice and following a job to its end."""
