//! TODO(issue 4): flow table, identification, inventory.
