"""The local-cloud process: the one owner of live state (``localcloud``), its control API
(``control``), the stream of changes (``stream``) and how ``fraudlab up``/``down`` find it
(``launcher``)."""
