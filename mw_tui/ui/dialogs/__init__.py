"""Modal dialogs: a yes/no question, a form for one record, the admin PIN."""
