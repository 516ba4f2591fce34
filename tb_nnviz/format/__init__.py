"""The contract between writers and readers: what an event file holds.

Plugin names, tags and versioned metadata (``metadata``), where the parts of
a stored trajectory point and spectrum lie (``layouts``), and the heatmap
route's binary body (``heatmap_body``). The lowest stage: it imports nothing
else of tb_nnviz, and every other stage may import it.
"""
