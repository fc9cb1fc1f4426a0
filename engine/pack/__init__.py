"""The rule pack as a model: rules, conditions, parameters, plans (``model``), the derive
expression language (``expr``), message templates and the action catalogue.
"""
