"""nbgrader configuration for the course (copied into course directories by `autograder init-course`).

Hidden test cells call `autograder.cell.hidden_tests`, which loads the reference solution from
the instructor notebooks; AUTOGRADER_SOLUTIONS points it at this course directory's `source/`.
"""

import os
from pathlib import Path

c = get_config()  # noqa: F821 - provided by nbgrader

c.CourseDirectory.course_id = "dl-math-course"
os.environ.setdefault("AUTOGRADER_SOLUTIONS", str(Path(__file__).resolve().parent / "source"))

# What students see in place of a solution.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# A notebook cell that runs longer than this is stopped (the test cells take well under 1 s).
c.Execute.timeout = 120
c.Execute.interrupt_on_timeout = True

# Submissions from students not yet in the gradebook are added to it when autograded.
c.Autograde.create_student = True
