"""Server middleware modules"""
