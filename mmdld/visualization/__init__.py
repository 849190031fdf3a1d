from .spotting_visualizer import SpottingLocalVisualizer

__all__ = ['SpottingLocalVisualizer']
