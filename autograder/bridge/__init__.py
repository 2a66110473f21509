"""The bridge to nbgrader: course directories, the gradebook, autograded notebooks, feedback."""
