from .dynamic_resolution_selector import DynamicResolutionSelector

__all__ = ['DynamicResolutionSelector']
