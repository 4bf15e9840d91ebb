"""The registry: paper name -> PaperSpec. Adding a paper is one module and one line here."""
from . import gpt1, gpt2, gpt3, igpt, mingpt

PAPERS = {spec.name: spec for spec in (gpt1.SPEC, gpt2.SPEC, gpt3.SPEC, igpt.SPEC,
                                       *mingpt.SPECS)}
