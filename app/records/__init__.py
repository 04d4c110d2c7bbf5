"""What the route families do alike to the streams they keep: deleting one."""
