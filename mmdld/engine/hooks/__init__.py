from .gumbel_temperature_hook import GumbelTemperatureHook

__all__ = ['GumbelTemperatureHook']
