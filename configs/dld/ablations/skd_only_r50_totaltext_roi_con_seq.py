# Paper Table 2: SKD-only (S-448) on Total-Text with all three SKD losses, the SKD-only config
# (also Table 3's "SKD" row).
_base_ = ['../skd_only_r50_totaltext.py']
