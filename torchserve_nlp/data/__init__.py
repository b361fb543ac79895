"""The offline data sets (packaged corpora) and the splits and examples made from them."""
