"""pantau"""
