"""Interop with Hugging Face transformers: conversion both ways (convert), logit parity and the
parameter-count table (parity), and a run exported as a model folder (export)."""
