"""An explanation response as a self-contained HTML page: ``parse`` checks the response
against the explanation contract, ``render`` colours each word by its score."""
