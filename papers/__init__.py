"""The paper specs (installed as `repro_papers`): paper name -> PaperSpec. Adding a paper is one
module and one line here. Imported only by the command line (repro/cli).

Citations in the specs: §, Table, App. = the paper itself; P1-P4 and C1-C7 = the sources keyed
in papers/FACTS.md §0 (released code, other papers), where every number is written down.
"""
from . import gpt1, gpt2, gpt3, igpt, mingpt

PAPERS = {spec.name: spec for spec in (gpt1.SPEC, gpt2.SPEC, gpt3.SPEC, igpt.SPEC,
                                       *mingpt.SPECS)}
