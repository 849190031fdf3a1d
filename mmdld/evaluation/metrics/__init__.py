from .e2e_spotting_metric import E2ESpottingMetric

__all__ = ['E2ESpottingMetric']
