"""One module per kind of row a company imports: each defines ``IMPORTER`` (its columns in English and Chinese,
its row model, its natural key, how it is applied and exported). Adding one = adding a module."""
