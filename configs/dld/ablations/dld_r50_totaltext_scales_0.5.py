# Paper Table 5: the single candidate {0.5}, i.e. the SKD-only student at S-448 (the DRS needs
# at least two candidates, so this is the SKD-only config).
_base_ = ['../skd_only_r50_totaltext.py']
